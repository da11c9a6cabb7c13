-- The 1000-row query, run directly (for reference).
SELECT id, content, user_id FROM comments WHERE id <= 1000 ORDER BY id;
