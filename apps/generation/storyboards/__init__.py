"""Storyboards: a parent Generation (kind `storyboard`) and one StoryboardScene per scene.

create (validate, price, charge once, write the rows) → scene tasks (in parallel, or one after
another when chained) → one assembly task on the `cpu` queue → succeeded. Like the rest of
apps.generation, every state change is a conditional UPDATE whose row count says who won.

- planning: scenes → jobs and prices (the quote and create share it)
- services: create and retry, what users do
- running: enqueue, the scenes' and the assembly's states, what the tasks drive
- selectors: reads (a storyboard's scenes)
- tasks: the Celery tasks for one scene and for the assembly

Money: charged once at create (`generation:<id>`); each part that produces nothing is refunded
on its own reference (apps.generation.charges says which).

Imports run one way: this package uses apps.generation's services and lower modules; nothing
in apps.generation outside it imports it.
"""
