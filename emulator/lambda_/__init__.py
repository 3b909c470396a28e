"""AWS Lambda, locally: functions run from their zip by awslambdaric, and the Kinesis event-source mapping."""
