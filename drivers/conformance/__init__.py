"""The conformance kit: a test controller that drives one unit through its contract.

A unit maker runs `chamber conformance keypad|mic` on the line the unit is on, with nothing
else mastering it. Each kit checks the contract section by section and gives one pass/fail
line per section, with the section's number and title as the contract names them
(firmware_specs/conformance.md). It is a second implementation of the controller side, on
the project's codecs (protocols/) and the serial transport of drivers/, written from the
contracts rather than from the daemon's drivers, so a fault the two share is less likely to
hide.

What needs hands on the unit (pressing keys, power-cycling it, holding a key down) is asked
of a `Bench`: on real hardware the kit prompts the maker and waits, with a timeout, for the
unit to show it was done; the tests give the simulator's units a bench that does it at once.
"""
