"""Memory: store · encoder · pool (torch) · recall · learn. See DESIGN.md, "Memory model"."""
