"""Amazon DynamoDB: tables, typed items, expressions, batches, query and scan."""
