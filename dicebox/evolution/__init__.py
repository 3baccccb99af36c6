"""Network-architecture evolution, in KerasTuner's shape: strategies, trials, a runner, a run store.

Layout: :mod:`~dicebox.evolution.taxonomy` (the search space), :mod:`~dicebox.evolution.operators`
(pure GA functions), :mod:`~dicebox.evolution.strategies` (``Strategy``: ask/tell; the genetic
algorithm and random search) wrapped by :mod:`~dicebox.evolution.rungs` (successive halving),
:mod:`~dicebox.evolution.trial` (a ``Trial`` and its ``TrialStatus``), :mod:`~dicebox.evolution.search`
(the runner: hands trials to an evaluator, tells the strategy, saves the run),
:mod:`~dicebox.evolution.run_folder` (the run store on disk), :mod:`~dicebox.evolution.final` (the
champion's retraining), :mod:`~dicebox.evolution.events` (progress records),
:mod:`~dicebox.evolution.fitness_registry` (fitness functions by name),
:mod:`~dicebox.evolution.fitness` (training one genome), :mod:`~dicebox.evolution.evaluators` (in
process / local processes), ``rabbit_evaluator``/``rabbit_worker`` (through RabbitMQ). Importing
this package loads neither TensorFlow nor pika.
"""
