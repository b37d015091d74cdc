"""Hand-derived gradients for fully-connected softmax classifiers.

Everything here is plain numpy: the matrix calculus of backpropagation, done by
hand, one forward/backward pair per layer. It never imports ``autograd`` (the
test suite checks this), so it can be held against the autograd backend.

The loss convention shared with every autonet backend::

    L = (1/N) * sum_n -log softmax(scores_n)[y_n]  +  0.5 * reg * sum_l ||W_l||^2

mean over the batch, the exercise's 0.5 factor on the L2 term, biases not
regularised.
"""

from .network import loss_and_grads

__all__ = ["loss_and_grads"]
