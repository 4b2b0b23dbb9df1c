"""The command lines: `one4d-generate` (generate), `one4d-render` (render), `one4d-view` (view)."""
