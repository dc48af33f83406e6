"""Live execution in the editor: a worker QThread runs the engine on graph
snapshots; engine events arrive on the GUI thread as queued Qt signals."""
