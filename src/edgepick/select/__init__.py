"""Selection: which candidate to deploy, and why every other one lost."""
