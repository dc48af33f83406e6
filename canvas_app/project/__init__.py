"""Project files: load (never crashes), save (atomic), asset paths."""
from canvas_app.project.format import FORMAT_VERSION, LoadIssue, graph_from_dict, graph_to_dict
from canvas_app.project.io import PROJECT_SUFFIX, load_project, save_project

__all__ = ["FORMAT_VERSION", "LoadIssue", "PROJECT_SUFFIX", "graph_from_dict",
           "graph_to_dict", "load_project", "save_project"]
