"""Centre staff: their centres' posters and response counts (administrators see every centre)."""
