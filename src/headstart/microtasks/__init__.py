"""MicroTasks: a crowd task service that creates, labels and validates data.

Short tasks go to annotators who declare their languages; a project file chains them (e.g. write a
text → two people validate it → three or more label it, until Dawid–Skene is confident); gold items
measure each annotator and pause the unreliable ones; created texts are checked for their language
and pseudonymised before anyone else sees them; annotators are known by a keyed pseudonym and can
be erased. The state lives in a database through SQLAlchemy (SQLite by default, PostgreSQL for
several processes), its schema versioned by Alembic.

Layout: `schema` (tables), `database` (engines, sessions, migrations, erasure's purge), `project`
(the YAML file, checked), `kinds/` (one module per task kind), `assign` (handing out tasks),
`answers` (taking answers, settling, chaining), `routing` (a label step's model rule), `consensus`
(Dawid–Skene, refitted in batches, smoothed), `people` (pseudonyms, gold, pauses, erasure),
`intake` (projects and items in), `report` and `page` (figures, the project page), `tables`
(files in and out), `engine` (the one object over all of it), `service` and `web/` (the HTTP API
and the task page), `simulate` (a crowd of HTTP clients).
"""
