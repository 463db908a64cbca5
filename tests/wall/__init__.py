"""Tests of the display wall: the web page and its MQTT twin."""
