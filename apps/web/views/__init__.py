"""Server-rendered pages, one module per area. Like the API views they parse input, call one
service or selector, and shape the output.

- pages: the landing page and the error pages
- create: the create page (Image → Video, Text → Video, the storyboard editor)
- jobs: the job list, one job's page, cancel and retry
- extend: a finished video's last frame as the start of a new clip
- common: what several of them share
"""
