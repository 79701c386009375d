// Placeholder until the component has sources.
