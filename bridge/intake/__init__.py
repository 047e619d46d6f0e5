"""`server.intake_process`: a second process answers webhooks, so intake and execution each have a core."""
