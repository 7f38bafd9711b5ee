"""The room for hand-off: the film leaving as editor timelines (OTIO, EDL, FCP XML, MLT).

Not built yet: today the film leaves as the assembled MP4 of stage 12
(``ProductionService.assemble_film``). The verbs go here as an ``ExportService``.
"""
