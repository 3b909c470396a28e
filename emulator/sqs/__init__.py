"""Amazon SQS: standard queues with visibility timeouts, long polling and dead-letter redrive."""
