"""Built-in node types. Every NodeType subclass in a module here is
registered by `canvas_app.graph.registry.default_registry()`. Keep module
imports light: heavy libraries are imported inside `run`."""
