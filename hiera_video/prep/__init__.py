"""Offline data preparation, apart from the runtime package: ``data_prep/*.py`` and the quickstart call it.

- :mod:`.kinetics`, :mod:`.ssv2`: official annotation files -> Kinetics-format lists (+ ``classes.json``);
- :mod:`.folders`: a folder of class sub-folders -> lists;
- :mod:`.validate`: decode every listed video, report the bad ones (``--clean`` writes lists without them);
- :mod:`.resize`: re-encode videos to a short side (PySlowFast / MMAction2's preprocessing);
- :mod:`.extract_frames`: videos -> JPEG frames and PySlowFast frame lists (``DATA.INPUT_FORMAT frames``);
- :mod:`.synthetic`: the quickstart's synthetic motion dataset (real encoded videos);
- :mod:`.ava` (:mod:`.ava_lists`, :mod:`.ava_check`, :mod:`.ava_proposals`, :mod:`.ava_own`): AVA frame lists from
  annotations + frames, the check of everything, MMAction2 proposal pickles -> CSV (NumPy-only unpickler), an
  AVA-format dataset from a user's own videos (``data_prep/ava.py``);
- :mod:`.synthetic_ava`: the AVA quickstart's synthetic action-detection dataset (JPEG frames, CSVs, label map);
- :mod:`.stats`: the list writers' per-split counts and summary.

Nothing in ``hiera_video.data``, ``models`` or ``evaluation`` imports this package (``tests/test_import_layers.py``).
"""
