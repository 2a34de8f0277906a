"""Reports rendered from results.json alone: the terminal table (and later Markdown, HTML)."""
