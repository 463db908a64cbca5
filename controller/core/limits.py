"""What a hall may set: every limit of the meeting core, defined once.

The core checks hall policies and chair commands against these numbers, and the hall file's
validation and the API's request schema take theirs from here, so the three never disagree.
Each limit says where it comes from (`../shared/DOMAIN.md` gathers the ranges the
established systems allow). Nothing here does I/O.
"""

from __future__ import annotations

from typing import Final

# --- the floor ------------------------------------------------------------------------------

# Open delegate microphones at once: the established systems allow 1..25 (chair and VIP units
# do not count against the cap).
MIN_OPEN_MICS: Final = 1
MAX_OPEN_MICS: Final = 25

# Places in the speakers' lists together: the established systems keep 0..250 requests.
MAX_REQUESTS: Final = 250

# The longest speaking time a hall may set for one turn, and the longest single extension:
# one hour (halls set 1..60 minutes; the National Assembly's first speech is 7). 0 means no
# limit, so a longer speech needs no larger number.
MAX_TURN_S: Final = 3600.0

# The advance warning before a turn's end: at most ten minutes.
MAX_TURN_WARNING_S: Final = 600.0

# Voice-activated microphones close after this much silence: more than 0, at most a minute
# (the systems close "after a few seconds").
MAX_VOICE_HOLD_S: Final = 60.0

# The quietest level a voice-activated microphone may open at, in dB full scale.
MIN_VOICE_OPEN_DB: Final = -96.0
MAX_VOICE_OPEN_DB: Final = 0.0

# --- votes ----------------------------------------------------------------------------------

# A vote's countdown: at most a day. 0 is an untimed vote, which stays open until the chair
# closes it by hand (real halls do this for a vote whose length nobody can foresee).
UNTIMED: Final = 0.0
MAX_VOTE_DURATION_S: Final = 24 * 3600.0

# The warning before a timed vote's end is shorter than the vote, so at most a day as well;
# 0 means no warning.
MAX_VOTE_WARNING_S: Final = MAX_VOTE_DURATION_S

# Options of a multiple-choice vote: at least two to choose between, at most the ten keys a
# button unit has (DOMAIN.md: "2..10 options (button units)").
MIN_CHOICES: Final = 2
MAX_CHOICES: Final = 10

# The chair's reason for annulling a vote (hủy kết quả), or for a result taken by hand: one or
# two sentences for the minutes.
MAX_ANNUL_REASON: Final = 500
# The reason for marking a seat present or absent by hand, or for moving a delegate to another
# seat: a sentence for the minutes.
MAX_SEAT_REASON: Final = 500

# --- a sitting prepared in advance ------------------------------------------------------------

# A title (of a sitting, an agenda item or a vote): a long Vietnamese resolution title runs to
# two or three hundred characters ("Nghị quyết về việc phê duyệt ..."); the API takes 500.
MAX_TITLE: Final = 500
# A person's name in a sitting file (the chair, the secretary), as the hall file allows.
MAX_NAME: Final = 200
# A place ("Hội trường Hội đồng nhân dân tỉnh"), as the hall file allows.
MAX_PLACE: Final = 100
# Ids of a sitting and of its agenda items; a prepared vote's id is made of both and its
# number ("ky-hop-thu-9.2.1") and a vote id holds at most 64 characters.
MAX_SITTING_ID: Final = 40
MAX_ITEM_ID: Final = 16
MAX_VOTE_ID: Final = 64
# Agenda items of one sitting, and prepared votes of one item: a People's Council's regular
# sitting has a few dozen items, a budget item a few dozen votes.
MAX_AGENDA_ITEMS: Final = 100
MAX_ITEM_VOTES: Final = 100
