"""What the generation app tells the others, so that it never has to call them.

`generation_succeeded` is sent by the one caller that won a job's move to `succeeded`, inside the
transaction that writes it, with `generation` (the row as it now is). Receivers write in that same
transaction: their rows commit with the success or not at all (the content library's item is
one: a succeeded job is never without it). A receiver must not call out to other systems; what
should happen only after the commit belongs in `transaction.on_commit` inside the receiver.
"""

from django.dispatch import Signal

generation_succeeded = Signal()
