"""Build, simulation, serial and flashing tools around the firmware."""
