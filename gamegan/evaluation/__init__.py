"""Evaluation: what `gamegan eval` measures and how. `evaluate` runs every model on the same
held-out windows and writes metrics.json and report.md (`report`); the figures come from
`image_quality` (PSNR, SSIM), `metrics` (game-state agreement, accumulation by horizon),
`inverse_dynamics` (action faithfulness), `pixel_sources`, `controllability`,
`come_back_home` and `swap`; `sprites` and `catch` read the recorder's game from frames by
palette colour, and `follow` and `ghost_losses` score the play measurement (sessions that
play.measure opens); `export_precision` is what `gamegan export --check-on` reports.
docs/evaluation.md defines each figure once."""
