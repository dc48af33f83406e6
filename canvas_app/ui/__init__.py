"""The Qt editor. Only this package imports Qt; graph, project and engine know nothing of it."""
