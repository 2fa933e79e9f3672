"""The data set of a model: who is scored when, what they looked like then, what happened.

In the order of the data flow: ``asof`` (every table as it stood at an as-of date),
``cohorts`` (the students of a grade at each checkpoint), ``featureset`` and
``featurize`` (the declared features and the point-in-time matrix), ``labels`` (the
outcome after each as-of date) and ``splits`` (which cohorts train, calibrate and test).
"""
