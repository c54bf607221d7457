"""Deciding what may serve: fairness per protected group, the evaluation window's proof, the gate's rules."""
