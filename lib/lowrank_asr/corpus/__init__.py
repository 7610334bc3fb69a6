"""Getting a corpus onto disk in LibriSpeech's layout, and its transcripts TSV: download and extract the official
tarballs, synthesise the embedded corpus (eSpeak NG), build the real-speech split from Debian packages, read
LibriSpeech's file conventions. No TensorFlow here; the input pipeline over the result is ``lowrank_asr.data``.
"""
