"""What a published day feeds: the HTML report, the signals and the CRM write-back.

Each output reads the serving copy; a failure in one never unpublishes anything.
"""
