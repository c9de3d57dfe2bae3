"""Point-in-time features and labels, shared by training, batch scoring and online serving."""
