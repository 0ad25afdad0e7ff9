"""Training Durian by self-reconstruction on portrait videos.

``preprocess`` turns videos into a cache (:mod:`.store`, :mod:`.preprocess`); :mod:`.toy` writes synthetic videos in
the same format; :mod:`.data` draws samples with complementary masking and augmentation; :mod:`.loop` runs the two
stages under accelerate on what :mod:`.components` builds (the model, its frozen parts, what each stage trains),
with the loss of :mod:`.objective` and the batched training forward of :mod:`.forward`; :mod:`.evaluate` measures
whether a model uses its references; :mod:`.bench` times training steps; :mod:`.cli` holds the ``preprocess`` and
``train`` commands.
"""
