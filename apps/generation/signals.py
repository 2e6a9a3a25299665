"""What the generation app tells the others, so that it never has to call them.

The life of a job, for listeners such as outgoing webhooks (apps.webhooks), each with
`generation` (the row as it now is):
- `generation_started`: it moved to running (a storyboard: when its first scene starts);
- `generation_progressed`: its reporter wrote its progress to the row (while running);
- `generation_finished`: it ended (succeeded, failed or canceled), sent inside the transaction
  that ends it, after `generation_succeeded`.
The same rules hold as below: receivers stay in the transaction, and anything that calls out goes
in `transaction.on_commit`; a receiver must not raise into the job's path.

`generation_succeeded` is sent by the one caller that won a job's move to `succeeded`, inside the
transaction that writes it, with `generation` (the row as it now is). Receivers write in that same
transaction: their rows commit with the success or not at all (the content library's item is
one: a succeeded job is never without it). A receiver must not call out to other systems; what
should happen only after the commit belongs in `transaction.on_commit` inside the receiver.
"""

from django.dispatch import Signal

generation_succeeded = Signal()
generation_started = Signal()
generation_progressed = Signal()
generation_finished = Signal()
