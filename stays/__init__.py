"""The tanker's stay in the park (issue 11): bookings, the waiting lot, the visit from the lot to
the exit gate with its timeline. SQL in stays/store.py; the transitions in stays/lifecycle.py,
stays/bookings.py and stays/queue.py; the decisions they rely on are pure checks in checks/.
"""
