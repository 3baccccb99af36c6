"""Network-architecture evolution: genetic operators, the resumable search loop, evaluators.

Layout: :mod:`~dicebox.evolution.taxonomy` (the search space), :mod:`~dicebox.evolution.operators`
(pure GA functions), :mod:`~dicebox.evolution.search` (the loop and its state),
:mod:`~dicebox.evolution.events` (progress records), :mod:`~dicebox.evolution.fitness` (training
one genome), :mod:`~dicebox.evolution.evaluators` (in process / local processes),
``rabbit_evaluator``/``rabbit_worker`` (through RabbitMQ), :mod:`~dicebox.evolution.run_folder`
(files on disk). Importing this package loads neither TensorFlow nor pika.
"""
