"""Where things are and which tools exist: source tree, build tree, boards, CMSIS-DSP, CMake.

The lowest layer that touches the outside world. The golden references use it for the host build of
CMSIS-DSP (``golden/hostcmsis.py``); ``tools/`` builds on it.
"""
