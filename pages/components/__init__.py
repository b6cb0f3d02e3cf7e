"""Reusable parts of the pages: the layout frame, the grid, the upload-preview dialog."""
