"""What every stage shares: errors, paths, files, stage markers, run layout, processes, configs, data, models, prompts."""
