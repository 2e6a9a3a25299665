"""Media helpers shared by every engine: streaming frames into ffmpeg, thumbnails, probing."""
