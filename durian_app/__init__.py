"""The web page over ``durian_core``: ``app.py`` builds it with :func:`durian_app.demo.build_app`.

- :mod:`.settings`: what the environment may change, read once at start;
- :mod:`.demo`: the page built from the settings, with what its handlers share (work folder, Live);
- the Edit & animate tab: :mod:`.edit_layout` (typed page objects), :mod:`.edit_handlers`, :mod:`.edit_events`;
- Live: :mod:`.live_layout` (the tab and the live view's own page), :mod:`.live_handlers`, :mod:`.live` (its state);
- plumbing the handlers share: :mod:`.convert` (page values ↔ the core's types), :mod:`.runs` (stoppable runs),
  :mod:`.workdir`, :mod:`.editor` (the mask editor's geometry), :mod:`.session` (the attribute gallery),
  :mod:`.errors`, :mod:`.upload`, :mod:`.text` (words, style and script from ``assets/``);
- the process: :mod:`.shutdown` (SIGTERM as Ctrl-C), :mod:`.memory` (the allocator's free memory given back).
"""
