"""A linear-chain conditional random field (CRF) over per-token tag scores.

A tagger's network gives each position t of a sentence a score ``e[t, k]`` for every tag
k (the *emissions*). A linear-chain CRF adds learned scores for tag bigrams, so the
model prefers consistent sequences (``I-PER`` after ``B-PER``, not after ``O``). For a
sentence of length n and tags y = (y_1, ..., y_n) the score is

    s(y) = start[y_1] + sum_{t=1..n} e[t, y_t] + sum_{t=2..n} A[y_{t-1}, y_t] + end[y_n]

with ``A`` the transition matrix (``transitions[i, j]``: tag i followed by tag j), and
the model's distribution is p(y | x) = exp(s(y)) / Z with the partition function
Z = sum over all K^n tag sequences of exp(s(y')) (Lafferty, McCallum and Pereira 2001,
"Conditional Random Fields"; used over BiLSTM features by Lample et al. 2016, "Neural
Architectures for Named Entity Recognition").

log Z comes from the forward algorithm, a recursion over positions in log space:

    alpha_1[j] = start[j] + e[1, j]
    alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + e[t, j]
    log Z      = logsumexp_j(alpha_n[j] + end[j])

and the best sequence argmax_y s(y) from Viterbi, the same recursion with max in place
of logsumexp plus back-pointers. Both are vectorised over the batch; the loop runs over
time only.

Padding: ``mask`` (B, T) is True at real positions. Each row must be a prefix of Trues
(a padded batch, at least one real position per row). A padded position leaves the
recursion's state unchanged, so a sentence in a padded batch gets exactly the score,
partition function and decoding it gets alone, and padded emissions get no gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CRF"]


class CRF(nn.Module):
    """Linear-chain CRF: transition, start and end scores over ``num_tags`` tags.

    Args:
        num_tags: the number of tags K.

    Parameters: ``transitions`` (K, K), ``start`` (K,), ``end`` (K,); initialised to
    small uniform values so no tag pair is preferred at the start.

    Shapes (batch first): emissions (B, T, K), tags (B, T) long, mask (B, T) bool.
    ``forward`` returns the negative log-likelihood summed over the batch, the loss to
    minimise; :meth:`log_likelihood` gives it per sentence, :meth:`decode` the best tags.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags={num_tags!r}: a CRF needs at least one tag")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.start = nn.Parameter(torch.empty(num_tags))
        self.end = nn.Parameter(torch.empty(num_tags))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for parameter in (self.transitions, self.start, self.end):
            nn.init.uniform_(parameter, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Negative log-likelihood of ``tags``, summed over the batch (a scalar)."""
        return -self.log_likelihood(emissions, tags, mask).sum()

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p(tags | emissions) per sentence, (B,): gold score minus log Z."""
        mask = self._check(emissions, mask, tags)
        emissions = _at_least_float32(emissions)
        return self.score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """s(tags) per sentence, (B,): start + emissions + transitions + end."""
        mask = self._check(emissions, mask, tags)
        batch = emissions.shape[0]
        rows = torch.arange(batch, device=emissions.device)
        real = mask.to(emissions.dtype)  # (B, T)
        # Padded positions may hold any filler (e.g. -100 for cross-entropy): index tag 0.
        tags = tags.masked_fill(~mask, 0)
        # Emission of the gold tag at each position, padded positions zeroed.
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1) * real  # (B, T)
        # Transition into position t from t-1, counted where t is real.
        moved = self.transitions[tags[:, :-1], tags[:, 1:]] * real[:, 1:]  # (B, T-1)
        last = mask.sum(1) - 1  # (B,) index of each sentence's last real position
        return self.start[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + self.end[tags[rows, last]]

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """log Z per sentence, (B,), by the forward algorithm."""
        mask = self._check(emissions, mask)
        alpha = self.start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            # (B, K, 1) + (K, K) -> (B, K_prev, K_next), summed out over K_prev.
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1)
            step = step + emissions[:, t]  # (B, K)
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor | None = None, pad: int = 0) -> Tensor:
        """The highest-scoring tag sequence (Viterbi), (B, T) long; ``pad`` where masked."""
        mask = self._check(emissions, mask)
        emissions = _at_least_float32(emissions)
        batch, steps, tags = emissions.shape
        best = self.start + emissions[:, 0]  # (B, K) best score of a path ending in k
        keep = torch.arange(tags, device=emissions.device).expand(batch, tags)  # (B, K)
        pointers = []  # one (B, K) per step t >= 1: the best previous tag for each tag
        for t in range(1, steps):
            candidates = best.unsqueeze(2) + self.transitions  # (B, K_prev, K_next)
            score, previous = candidates.max(dim=1)  # (B, K)
            real = mask[:, t, None]
            best = torch.where(real, score + emissions[:, t], best)
            # At a padded step the path stays where it is: point each tag at itself.
            pointers.append(torch.where(real, previous, keep))
        current = (best + self.end).argmax(dim=1)  # (B,) best final tag
        path = [current]
        for previous in reversed(pointers):
            current = previous.gather(1, current.unsqueeze(1)).squeeze(1)
            path.append(current)
        path.reverse()
        decoded = torch.stack(path, dim=1)  # (B, T)
        return decoded.masked_fill(~mask, pad)

    def _check(self, emissions: Tensor, mask: Tensor | None, tags: Tensor | None = None) -> Tensor:
        """The mask as bool (all True when None), after checking shapes and the prefix rule."""
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(
                f"emissions must have shape (B, T, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        batch, steps, _ = emissions.shape
        if steps == 0:
            raise ValueError("emissions have no time steps: a sentence needs at least one")
        if tags is not None and tags.shape != (batch, steps):
            raise ValueError(f"tags must have shape {(batch, steps)}, got {tuple(tags.shape)}")
        if mask is None:
            return torch.ones(batch, steps, dtype=torch.bool, device=emissions.device)
        if mask.shape != (batch, steps):
            raise ValueError(f"mask must have shape {(batch, steps)}, got {tuple(mask.shape)}")
        mask = mask.bool()
        if not bool(mask[:, 0].all()):
            raise ValueError("mask[:, 0] must be True: every sentence needs a first real position")
        # A prefix of Trues: once a row turns False it stays False.
        if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError("mask rows must be a run of True followed by False (right padding)")
        return mask


def _at_least_float32(x: Tensor) -> Tensor:
    # Sums of scores over many steps lose too much in half precision (mixed-precision
    # training); float64 stays float64.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
