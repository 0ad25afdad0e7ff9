"""Plumbing the app's handlers share and that holds no layout: stoppable runs (:mod:`.runs`), the work folder
(:mod:`.workdir`), the mask editor's geometry (:mod:`.editor`) and error conversion (:mod:`.errors`)."""
