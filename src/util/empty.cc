// Intentionally empty: a component library with no sources yet.
