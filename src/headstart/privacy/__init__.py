"""Personal data: find it, replace it by keyed pseudonyms, and reverse that with the key."""
