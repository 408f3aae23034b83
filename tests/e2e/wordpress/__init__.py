"""The WordPress plugin test harness: the site (harness.py) and the PHP and Node helpers it runs."""
