"""KFP pipelines: they only wire components, name steps, and set caching and resources."""
