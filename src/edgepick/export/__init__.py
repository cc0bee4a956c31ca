"""`edgepick export`: a measured candidate as a deployable folder."""
