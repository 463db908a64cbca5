"""chamber's controller: the meeting core, the daemon runtime, the journal and the API."""
