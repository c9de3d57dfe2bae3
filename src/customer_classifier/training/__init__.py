"""Candidate models and the training procedure that selects one."""
