"""The torture harness: a hall on every transport, a daemon killed over and over, faults and a
hostile unit, every press accounted for and every secret ballot checked (docs/reliability.md)."""
