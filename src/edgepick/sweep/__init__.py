"""The scheduler: settings in, candidates planned, converted, launched and stored; rows in any order."""
