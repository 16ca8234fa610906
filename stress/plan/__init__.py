"""What users will do: seeded streams, row payloads, user-class profiles, op plans and pacing.

Pure functions of seeds and settings; nothing here runs an operation or touches a run folder."""
